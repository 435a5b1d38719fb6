// Links to Airflow's own pages (a task instance) from a page that Airflow shows inside its iframe.
// That iframe's sandbox may not navigate the top window, so a plain link would load a second Airflow UI inside
// this frame. Instead the URL is handed to the Airflow UI's router (same origin: push it, announce it), which
// shows the page in Airflow's own layout. Opened on its own, or if anything fails, the link works as usual.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-airflow-link]");
  if (!link || window.top === window || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
    return;
  }
  try {
    window.top.history.pushState(null, "", link.href);
    window.top.dispatchEvent(new PopStateEvent("popstate", { state: null }));
    event.preventDefault();
  } catch (error) {
    // not reachable (another origin): let the link load in this frame
  }
});
