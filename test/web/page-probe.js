/* global window, document, PerformanceObserver, MutationObserver, requestAnimationFrame */
// Installed into every test page (addInitScript) before the client's own scripts run.
// It only observes: main-thread long tasks, animation-frame gaps, message rows added to the DOM,
// and alert/confirm/prompt calls (which an injected payload would make).
(() => {
  const probe = {
    longTasks: [],
    renderedIds: new Set(),
    trackFrames: false,
    frames: 0,
    maxFrameGap: 0,
    alerts: 0,
  };
  window.__probe = probe;

  for (const name of ['alert', 'confirm', 'prompt']) {
    window[name] = () => {
      probe.alerts++;
    };
  }

  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    probe.longTasks = null;
  }

  const record = (node) => {
    if (node.nodeType !== 1) return;
    if (node.classList.contains('msg') && node.dataset.id) probe.renderedIds.add(Number(node.dataset.id));
  };
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') record(r.target);
      else for (const n of r.addedNodes) record(n);
    }
  });
  const start = () =>
    observer.observe(document.documentElement, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ['data-id'],
    });
  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);

  let last = 0;
  const tick = (t) => {
    if (probe.trackFrames) {
      if (last) probe.maxFrameGap = Math.max(probe.maxFrameGap, t - last);
      probe.frames++;
      last = t;
    } else {
      last = 0;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
