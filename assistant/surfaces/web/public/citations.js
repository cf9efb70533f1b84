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
