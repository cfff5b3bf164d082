// Keyward console: the little the pages do with JavaScript. Every flow
// works without it; this adds a copy button for a new secret and asks
// before a delete. No inline script: the Content-Security-Policy allows
// only this file.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // A copy button beside a secret, shown only where it can work.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    if (!field) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        if (status) {
          status.textContent = "The secret is on your clipboard.";
        }
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      };
      var fallback = function () {
        field.focus();
        field.select();
        try {
          if (document.execCommand("copy")) {
            done();
            return;
          }
        } catch (e) { /* fall through */ }
        if (status) {
          status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected secret.";
        }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // A read-only secret is selected whole when it gets the focus.
  document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });

  // Ask before a form that cannot be undone at once.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
});
