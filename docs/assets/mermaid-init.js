// Render the ```mermaid blocks with the copy of Mermaid served by this site
// (assets/vendor/mermaid, MIT licence): no CDN, so diagrams work offline.
window.mermaid.initialize({ startOnLoad: true, securityLevel: "strict" });
