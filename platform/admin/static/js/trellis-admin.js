/* Trellis admin: small helps on top of plain forms (without JS the forms work the same).
   A key input with data-key-from="<name of the label input>" suggests a key from the label
   as the administrator types it, until they edit the key themselves (the same steps as
   trellis.words.key_from_label). data-confirm lives in the shared forms.js. */
(function () {
  "use strict";

  function keyFrom(label) {
    var key = label.replace(/ß/g, "ss").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^[0-9_]+/, "");
    return key.slice(0, 40).replace(/_+$/, "");
  }

  document.querySelectorAll("input[data-key-from]").forEach(function (key) {
    var scope = key.form || document;
    var label = scope.querySelector('[name="' + key.dataset.keyFrom + '"]');
    if (!label) return;
    var suggested = key.value === "" ? "" : null;  // a key typed or saved before stays
    key.addEventListener("input", function () { suggested = key.value === "" ? "" : null; });
    label.addEventListener("input", function () {
      if (suggested === null || key.value !== suggested) return;
      suggested = keyFrom(label.value);
      key.value = suggested;
    });
  });
})();

/* Automation actions: each row shows only the inputs of the action type chosen in it (and the
   trigger only its stage or field input); "Add another action" adds an empty row (without JS every input shows, and the page always ends
   with an empty row to add one). */
(function () {
  "use strict";

  var rows = document.getElementById("action-rows");
  if (!rows) return;

  function showTypeInputs(row) {
    var chosen = row.querySelector("[data-action-type]").value;
    row.querySelectorAll("[data-for-type]").forEach(function (part) {
      part.hidden = part.dataset.forType !== chosen;
    });
  }

  function wire(row) {
    row.querySelector("[data-action-type]").addEventListener("change", function () {
      showTypeInputs(row);
    });
    showTypeInputs(row);
  }

  rows.querySelectorAll("[data-action-row]").forEach(wire);
  // the stage and field inputs show for the trigger that uses them
  var form = rows.closest("form");
  var on = form && form.querySelector('[name="on"]');
  if (on) {
    var showTrigger = function () {
      form.querySelectorAll("[data-for-trigger]").forEach(function (part) {
        part.hidden = part.dataset.forTrigger !== on.value;
      });
    };
    on.addEventListener("change", showTrigger);
    showTrigger();
  }
  var add = document.getElementById("add-action");
  add.hidden = false;
  add.addEventListener("click", function () {
    var all = rows.querySelectorAll("[data-action-row]");
    var last = all[all.length - 1];
    var from = Number(last.dataset.actionRow), to = from + 1;
    var copy = last.cloneNode(true);
    copy.dataset.actionRow = String(to);
    copy.querySelector("legend").textContent = "Action " + (all.length + 1);
    copy.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace("a" + from + "_", "a" + to + "_"));
      });
    });
    copy.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    copy.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
    copy.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (el.type === "checkbox") el.checked = false;
      else if (el.tagName === "SELECT") Array.from(el.options).forEach(function (o) { o.selected = false; });
      else el.value = "";
    });
    rows.appendChild(copy);
    wire(copy);
    copy.querySelector("[data-action-type]").focus();
  });
})();
