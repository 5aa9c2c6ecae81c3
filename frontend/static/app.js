/* Behaviour shared by the pages (no inline scripts or handlers: a strict CSP forbids them).
 *
 * - the listing wizard: one step at a time, assets added and removed, the live check that the
 *   settlement ratios sum to 100 % (basis points parsed from the text as integers, never floats);
 * - organisation lists filled from GET /api/orgs when the page could not list them;
 * - print buttons.
 * The server validates every form again; nothing here decides anything.
 */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); }
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  window.marketplaceCsrfToken = csrfToken;

  /* "33.33" → 3333 basis points; null when it is not a percentage with at most two decimals */
  function percentToBp(text) {
    var cleaned = String(text || "").normalize("NFKC").replace(/\s|%/g, "");
    if (cleaned === "") { return 0; }
    var match = /^([0-9]{1,3})(?:\.([0-9]{1,2}))?$/.exec(cleaned);
    if (!match) { return null; }
    var bp = parseInt(match[1], 10) * 100 + parseInt((match[2] || "").padEnd(2, "0"), 10);
    return bp > 10000 ? null : bp;
  }

  function bpToText(bp) {
    var whole = Math.floor(bp / 100);
    var part = bp % 100;
    return part ? whole + "." + (part < 10 ? "0" : "") + part + " %" : whole + " %";
  }

  function ratioCheck(form) {
    var out = document.getElementById("ratio-sum");
    if (!out) { return; }
    var total = 0;
    var readable = true;
    form.querySelectorAll("input[data-ratio]").forEach(function (input) {
      var bp = percentToBp(input.value);
      if (bp === null) { readable = false; input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); total += bp; }
    });
    var ok = readable && total === 10000;
    out.setAttribute("data-ok", ok ? "true" : "false");
    out.setAttribute("data-total-bp", String(total));
    out.textContent = ok ? out.getAttribute("data-ok-text") : out.getAttribute("data-bad-text").split("{sum}").join(bpToText(total));
  }

  function renumberAssets(container, headingTemplate) {
    var rows = container.querySelectorAll("[data-asset-row]");
    rows.forEach(function (row, index) {
      var n = index + 1;
      var heading = row.querySelector(".asset-heading");
      if (heading) { heading.textContent = headingTemplate.split("{n}").join(String(n)); }
      row.querySelectorAll("[id]").forEach(function (el) {
        var id = el.id.replace(/-\d+$/, "-" + n);
        var label = row.querySelector('label[for="' + el.id + '"]');
        el.id = id;
        if (label) { label.setAttribute("for", id); }
      });
      var remove = row.querySelector("[data-remove-asset]");
      if (remove) { remove.hidden = rows.length < 2; }
    });
  }

  function setUpWizard(form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll(".wizard-step"));
    var markers = Array.prototype.slice.call(document.querySelectorAll("#wizard-steps li"));
    var prev = document.getElementById("wizard-prev");
    var next = document.getElementById("wizard-next");
    var create = document.getElementById("wizard-create");
    var preview = document.getElementById("wizard-preview");
    var current = 0;

    function show(index, quiet) {
      current = Math.max(0, Math.min(steps.length - 1, index));
      steps.forEach(function (step, i) { step.hidden = i !== current; });
      markers.forEach(function (marker, i) {
        if (i === current) { marker.setAttribute("aria-current", "step"); } else { marker.removeAttribute("aria-current"); }
        marker.classList.toggle("done", i < current);
      });
      prev.hidden = current === 0;
      next.hidden = current === steps.length - 1;
      create.hidden = current !== steps.length - 1;
      var legend = steps[current].querySelector("legend");
      if (legend && !quiet) { legend.setAttribute("tabindex", "-1"); legend.focus(); }
      if (current === steps.length - 1 && preview && window.htmx) {
        window.htmx.ajax("POST", "/bank/listings/preview", { source: form, target: "#wizard-preview", swap: "innerHTML" });
      }
    }

    function stepIsValid() {
      var fields = steps[current].querySelectorAll("input[required], select[required]");
      for (var i = 0; i < fields.length; i += 1) {
        if (!fields[i].value.trim()) {
          fields[i].setAttribute("aria-invalid", "true");
          fields[i].focus();
          return false;
        }
        fields[i].removeAttribute("aria-invalid");
      }
      return true;
    }

    prev.addEventListener("click", function () { show(current - 1); });
    next.addEventListener("click", function () { if (stepIsValid()) { show(current + 1); } });

    var rows = document.getElementById("asset-rows");
    var add = document.getElementById("add-asset");
    var headingTemplate = add ? add.getAttribute("data-heading") : "{n}";
    if (add && rows) {
      add.addEventListener("click", function () {
        var first = rows.querySelector("[data-asset-row]");
        var copy = first.cloneNode(true);
        copy.querySelectorAll("input").forEach(function (input) { input.value = ""; input.removeAttribute("aria-invalid"); });
        copy.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
        rows.appendChild(copy);
        renumberAssets(rows, headingTemplate);
        var number = copy.querySelector('input[name="asset_number"]');
        if (number) { number.focus(); }
      });
      rows.addEventListener("click", function (event) {
        var button = event.target.closest("[data-remove-asset]");
        if (!button) { return; }
        var row = button.closest("[data-asset-row]");
        if (rows.querySelectorAll("[data-asset-row]").length > 1) { row.remove(); }
        renumberAssets(rows, headingTemplate);
      });
    }

    document.addEventListener("submit", function (event) {
      if (event.target === form && current !== steps.length - 1) {
        event.preventDefault();
        event.stopPropagation();
        if (stepIsValid()) { show(current + 1); }
      }
    }, true);

    form.addEventListener("input", function (event) {
      if (event.target.matches("input[data-ratio]")) { ratioCheck(form); }
    });
    ratioCheck(form);
    show(0, true);
  }

  function fillOrgSelects() {
    var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-orgs-kind]")).filter(function (select) {
      return select.options.length <= 1;
    });
    if (!selects.length) { return; }
    fetch("/api/orgs", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (orgs) {
        selects.forEach(function (select) {
          var kind = select.getAttribute("data-orgs-kind");
          orgs.filter(function (org) { return org.kind === kind; }).forEach(function (org) {
            var option = document.createElement("option");
            option.value = org.id;
            option.textContent = org.name;
            select.appendChild(option);
          });
        });
      })
      .catch(function () { return null; });
  }

  onReady(function () {
    var wizard = document.getElementById("wizard");
    if (wizard) { setUpWizard(wizard); }
    fillOrgSelects();
    document.addEventListener("click", function (event) {
      if (event.target.closest("[data-print]")) { window.print(); }
    });
  });
}());
