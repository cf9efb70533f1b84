// Chainlit opens the source panel whenever a message brings new side elements (every cited answer, and again
// after a reload). Readers asked for it to open when they click a citation, so close it unless they just did.
(function () {
  let lastCitationClick = 0;
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("a.element-link")) lastCitationClick = Date.now();
  }, true);
  new MutationObserver(() => {
    const title = document.getElementById("side-view-title");
    if (!title || title.dataset.seen) return;
    title.dataset.seen = "1";
    if (Date.now() - lastCitationClick > 1500) {
      const close = title.querySelector("button");
      if (close) close.click();
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
})();

// The landing page says what this is and what it holds: one line above the starters, from collection.json
// (written by the server at start-up). Feed labels come from the feeds, so they are set as text, never HTML.
(function () {
  let collection = null;
  fetch("/public/collection.json").then((r) => (r.ok ? r.json() : null)).then((data) => { collection = data; });
  new MutationObserver(() => {
    const starters = document.getElementById("starters");
    if (!collection || !starters || document.getElementById("collection-line")) return;
    const line = document.createElement("p");
    line.id = "collection-line";
    line.style.cssText = "text-align:center;opacity:0.75;margin:0 0 1rem 0;font-size:0.95rem";
    line.textContent = collection.line;
    starters.parentElement.insertBefore(line, starters);
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
