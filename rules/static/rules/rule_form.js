// The rule form shows the fields its trigger uses; the others stay saved but out of the way.
"use strict";
(function () {
  const FIELDS = {
    keywords: ["keywords", "match_type"],
    payload: ["payload"],
    referral: ["referral_ref"],
    attachment: ["attachment_types"],
  };
  const ALL = [].concat(...Object.values(FIELDS));

  function show() {
    const select = document.getElementById("id_trigger");
    if (!select) return;
    const wanted = FIELDS[select.value] || [];
    for (const name of ALL) {
      const row = document.querySelector(".field-" + name);
      if (row) row.hidden = !wanted.includes(name);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const select = document.getElementById("id_trigger");
    if (select) {
      select.addEventListener("change", show);
      show();
    }
  });
})();
