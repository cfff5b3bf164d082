// Keyward's API reference: makes each operation's examples tabs (the WAI-ARIA
// tabs pattern: arrow keys, Home and End move between tabs), adds a copy
// button to each example, and filters the sidebar. Without it, the page
// shows every example, one under the other.
"use strict";

(function () {
  var STORE = "keyward-docs-language";

  function tabsOf(list) {
    return Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
  }

  // show selects tab in its own tab list: its panel shows, the others hide.
  function show(tab) {
    tabsOf(tab.parentNode).forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
  }

  // choose selects tab, and the same language in every other operation,
  // keeping tab where it is on the screen while the panels above it change
  // height.
  function choose(tab) {
    var lang = tab.getAttribute("data-lang");
    var before = tab.getBoundingClientRect().top;
    document.querySelectorAll('[role="tab"][data-lang="' + lang + '"]').forEach(show);
    window.scrollBy(0, tab.getBoundingClientRect().top - before);
    try {
      window.localStorage.setItem(STORE, lang);
    } catch (e) {
      // Storage may be off; the choice then lasts this page only.
    }
  }

  function onKey(event) {
    var tab = event.target;
    var tabs = tabsOf(tab.parentNode);
    var i = tabs.indexOf(tab);
    var next;
    switch (event.key) {
      case "ArrowRight":
        next = tabs[(i + 1) % tabs.length];
        break;
      case "ArrowLeft":
        next = tabs[(i - 1 + tabs.length) % tabs.length];
        break;
      case "Home":
        next = tabs[0];
        break;
      case "End":
        next = tabs[tabs.length - 1];
        break;
      default:
        return;
    }
    event.preventDefault();
    choose(next);
    next.focus();
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Over plain HTTP from another host there is no clipboard API: copy
    // from a selection instead.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  function addCopyButton(panel) {
    var code = panel.querySelector("pre code");
    if (!code) {
      return;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the " + panel.getAttribute("data-lang") + " example");
    button.addEventListener("click", function () {
      copyText(code.textContent).then(
        function () {
          button.textContent = "Copied";
        },
        function () {
          button.textContent = "Select and copy";
        }
      );
      window.setTimeout(function () {
        button.textContent = "Copy";
      }, 2000);
    });
    panel.appendChild(button);
  }

  function setUpFilter() {
    var input = document.getElementById("filter");
    if (!input) {
      return;
    }
    input.parentNode.hidden = false;
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll(".nav-group").forEach(function (group) {
        var any = false;
        group.querySelectorAll("li[data-op]").forEach(function (li) {
          var text = (li.textContent + " " + li.getAttribute("data-op")).toLowerCase();
          var match = words.every(function (w) {
            return text.indexOf(w) >= 0;
          });
          li.hidden = !match;
          any = any || match;
        });
        group.hidden = !any;
      });
    });
  }

  function start() {
    var stored = null;
    try {
      stored = window.localStorage.getItem(STORE);
    } catch (e) {
      stored = null;
    }
    document.querySelectorAll('[role="tablist"]').forEach(function (list) {
      var tabs = tabsOf(list);
      var first = tabs.filter(function (t) {
        return t.getAttribute("data-lang") === stored;
      })[0] || tabs[0];
      show(first);
      tabs.forEach(function (t) {
        t.addEventListener("click", function () {
          choose(t);
        });
        t.addEventListener("keydown", onKey);
      });
    });
    document.querySelectorAll('[role="tabpanel"]').forEach(addCopyButton);
    setUpFilter();
    document.documentElement.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
