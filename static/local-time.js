// Times the server wrote in UTC (<time datetime="..." data-local-time>) shown in the reader's own time
// zone and language, e.g. "Dec 1, 2026, 01:40 PM EST". Without this script they read in UTC, which is
// also kept in the title. Calendar events carry no data-local-time: they keep their event's zone.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // dateStyle cannot be combined with timeZoneName, hence the fields one by one.
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  for (const element of document.querySelectorAll("time[data-local-time]")) {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) {
      continue;
    }
    element.title = element.textContent;
    element.textContent = format.format(moment);
  }
});
