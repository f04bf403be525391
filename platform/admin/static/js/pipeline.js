/* The pipeline form: the up and down buttons move a stage and renumber the order inputs;
   the moves table greys out the next stages while "Any stage" is ticked. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move-row]");
    if (!button) return;
    var row = button.closest("tr");
    var step = Number(button.dataset.moveRow);
    var sibling = step < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling || !sibling.dataset.stage) return;
    if (step < 0) row.parentNode.insertBefore(row, sibling);
    else row.parentNode.insertBefore(sibling, row);
    document.querySelectorAll("#stages tbody tr[data-stage]").forEach(function (tr, i) {
      tr.querySelector('input[name^="stage_order_"]').value = i;
    });
  });
  // "Any stage" makes the list of next stages moot: grey it out while it is ticked
  function syncNext(any) {
    var row = any.closest("tr");
    row.querySelectorAll("[data-next-stages] input").forEach(function (box) { box.disabled = any.checked; });
  }
  document.querySelectorAll('#stage-moves input[name^="stage_any_"]').forEach(function (any) {
    syncNext(any);
    any.addEventListener("change", function () { syncNext(any); });
  });
})();
