// wharf console: loads the console's script once the page's first frame
// is out, so that compiling it never holds the first paint (the page
// shows its sign-in form by itself). A tab in the background, which gets
// no frames, loads it a moment later all the same.
'use strict';
(() => {
  let done = false;
  const load = () => {
    if (done) return;
    done = true;
    const s = document.createElement('script');
    s.src = 'static/app.js';
    document.head.appendChild(s);
  };
  requestAnimationFrame(() => setTimeout(load, 0));
  setTimeout(load, 250);
})();
