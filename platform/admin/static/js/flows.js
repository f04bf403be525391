/* Approval route form: each step row shows the approver input of its kind and the quorum
   only in quorum mode; "Add another step" adds an empty row and the arrows reorder rows in
   place (inputs are renumbered s0_, s1_ ... in page order, which is the route's order).
   Without JS every input shows, the page ends with an empty row, and "Remove" drops a row. */
(function () {
  "use strict";

  var rows = document.getElementById("step-rows");
  if (!rows) return;

  function all() { return rows.querySelectorAll("[data-step-row]"); }

  function showParts(row) {
    var kind = row.querySelector("[data-approver-kind]").value;
    row.querySelectorAll("[data-for-kind]").forEach(function (part) {
      part.hidden = part.dataset.forKind !== kind;
    });
    var mode = row.querySelector("[data-step-mode]").value;
    row.querySelectorAll("[data-for-mode]").forEach(function (part) {
      part.hidden = part.dataset.forMode !== mode;
    });
  }

  function renumber() {
    all().forEach(function (row, i) {
      row.dataset.stepRow = String(i);
      row.querySelector("[data-step-number]").textContent = String(i + 1);
      row.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
        ["name", "id", "for"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^(f-)?s\d+_/, "$1s" + i + "_"));
        });
      });
    });
  }

  function wire(row) {
    row.querySelector("[data-approver-kind]").addEventListener("change", function () { showParts(row); });
    row.querySelector("[data-step-mode]").addEventListener("change", function () { showParts(row); });
    var tools = row.querySelector("[data-step-tools]");
    tools.hidden = false;
    tools.querySelectorAll("[data-step-move]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.dataset.stepMove === "up" && row.previousElementSibling) {
          rows.insertBefore(row, row.previousElementSibling);
        } else if (button.dataset.stepMove === "down" && row.nextElementSibling) {
          rows.insertBefore(row.nextElementSibling, row);
        }
        renumber();
      });
    });
    showParts(row);
  }

  all().forEach(wire);
  var add = document.getElementById("add-step");
  add.hidden = false;
  add.addEventListener("click", function () {
    var list = all();
    var copy = list[list.length - 1].cloneNode(true);
    copy.querySelectorAll("input[type=text], input:not([type]), textarea").forEach(function (el) { el.value = ""; });
    copy.querySelectorAll("input[type=checkbox]").forEach(function (el) { el.checked = false; });
    copy.querySelectorAll("select").forEach(function (el) {
      Array.prototype.forEach.call(el.options, function (o) { o.selected = false; });
      if (!el.multiple) el.selectedIndex = 0;
    });
    copy.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    copy.querySelectorAll(".is-invalid").forEach(function (el) { el.classList.remove("is-invalid"); });
    rows.appendChild(copy);
    renumber();
    wire(copy);
  });
})();

/* The trigger's stage and field inputs show for the trigger that uses them. */
(function () {
  "use strict";
  document.querySelectorAll("form").forEach(function (form) {
    var on = form.querySelector('select[name="on"]');
    if (!on || !form.querySelector("[data-for-trigger]") || document.getElementById("action-rows")) return;
    var show = function () {
      form.querySelectorAll("[data-for-trigger]").forEach(function (part) {
        part.hidden = part.dataset.forTrigger !== on.value;
      });
    };
    on.addEventListener("change", show);
    show();
  });
})();
