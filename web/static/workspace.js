/* The collector's workspace (tenant/case.html) and work queue: tabs and sections switched in place (each is also
   a plain link the server answers), the promise fields shown for a promise-to-pay outcome, and keyboard shortcuts
   that stay quiet while the collector types in a field. Everything here only shortens what the forms do anyway. */
(function () {
  "use strict";

  function activate(attr, paneAttr, name) {
    var links = document.querySelectorAll("[" + attr + "]");
    var panes = document.querySelectorAll("[" + paneAttr + "]");
    if (!links.length) return false;
    links.forEach(function (link) {
      var on = link.getAttribute(attr) === name;
      link.classList.toggle("active", on);
      if (on) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    });
    panes.forEach(function (pane) { pane.hidden = pane.getAttribute(paneAttr) !== name; });
    return true;
  }

  function showTab(name) {
    if (activate("data-tab", "data-pane", name)) {
      var url = new URL(window.location.href);
      url.searchParams.set("tab", name);
      url.hash = "";
      window.history.replaceState(null, "", url.toString());
    }
  }

  function showSection(name) {
    if (activate("data-section", "data-section-pane", name)) {
      var url = new URL(window.location.href);
      url.searchParams.set("section", name);
      window.history.replaceState(null, "", url.toString());
    }
  }

  function revealTarget(id) {
    var target = id && document.getElementById(id);
    if (!target) return;
    var pane = target.closest("[data-pane]");
    if (pane) showTab(pane.getAttribute("data-pane"));
    var section = target.closest("[data-section-pane]");
    if (section) showSection(section.getAttribute("data-section-pane"));
  }

  function togglePromise() {
    var outcome = document.getElementById("wrap-outcome_code");
    var fields = document.getElementById("wrap-up-promise");
    if (!outcome || !fields) return;
    fields.hidden = outcome.value !== fields.getAttribute("data-for-outcome");
  }

  function promise() {
    var outcome = document.getElementById("wrap-outcome_code");
    if (outcome) {
      showTab("contact");
      outcome.value = "promise_to_pay";
      togglePromise();
      var save = document.getElementById("save-next");
      if (save) save.focus();
      return;
    }
    showTab("promise");
    var amount = document.getElementById("promise-amount");
    if (amount) amount.focus();
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function go(url) { if (url) window.location.assign(url); }

  document.addEventListener("DOMContentLoaded", function () {
    var workspace = document.getElementById("workspace");
    document.querySelectorAll("[data-tab]").forEach(function (link) {
      link.addEventListener("click", function (event) { event.preventDefault(); showTab(link.getAttribute("data-tab")); });
    });
    document.querySelectorAll("[data-section]").forEach(function (link) {
      link.addEventListener("click", function (event) { event.preventDefault(); showSection(link.getAttribute("data-section")); });
    });
    revealTarget(window.location.hash.slice(1));
    var outcome = document.getElementById("wrap-outcome_code");
    if (outcome) {
      outcome.addEventListener("change", togglePromise);
      togglePromise();
    }
    var dial = document.getElementById("dial-link");
    var saveNext = document.getElementById("save-next");
    if (dial) dial.focus();
    else if (saveNext && workspace) saveNext.focus();
    if (window.location.hash === "#queue-search") {
      var search = document.querySelector("#queue-search input");
      if (search) search.focus();
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      var help = document.getElementById("shortcut-help");
      if (event.key === "?") {
        if (help) { help.open = !help.open; event.preventDefault(); }
        return;
      }
      if (event.key === "Escape" && help) { help.open = false; return; }
      if (event.key === "/") {
        var field = document.querySelector("#queue-search input");
        if (field) field.focus();
        else if (workspace) go(workspace.getAttribute("data-queue-url") + "#queue-search");
        event.preventDefault();
        return;
      }
      if (!workspace) return;
      if (event.key === "c") {
        var call = document.getElementById("call-button");
        if (call) { event.preventDefault(); call.click(); }
      } else if (event.key === "p") {
        event.preventDefault();
        promise();
      } else if (event.key === "n" || event.key === "j") {
        event.preventDefault();
        go(workspace.getAttribute("data-next-url"));
      }
    });
  });
})();
