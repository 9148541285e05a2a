/* On a narrow screen the survey's steps are one strip that scrolls sideways
   (static/css/app.css, .steps): bring the current step into view, centred when it can be.
   Without JavaScript the strip starts at step 1; the heading still says "(n of N)". */
(function () {
  "use strict";
  var current = document.querySelector('.steps [aria-current="step"]');
  if (!current) { return; }
  var item = current.parentElement;
  var strip = item.parentElement;
  if (strip.scrollWidth <= strip.clientWidth) { return; }
  strip.scrollLeft = item.offsetLeft - (strip.clientWidth - item.offsetWidth) / 2;
})();
