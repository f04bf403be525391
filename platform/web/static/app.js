/* Trellis end-user app: stage moves with a dialog for missing fields, kanban drag and drop,
   reference search-as-you-type. Works on top of plain forms: without JS they still post. */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    });
  }

  /* -- the dialog that asks for a stage's missing fields ------------------------------ */
  var dialog = document.getElementById("stage-dialog");
  function askForFields(url, stage, pipeline, result, done) {
    var form = document.getElementById("stage-dialog-form");
    document.getElementById("stage-dialog-text").textContent =
      "“" + (result.stage || stage) + "” needs these fields:";
    document.getElementById("stage-dialog-fields").innerHTML = result.html;
    wireReferences(form);
    form.onsubmit = function (event) {
      event.preventDefault();
      var body = new FormData(form);
      body.set("stage", stage);
      if (pipeline) body.set("pipeline", pipeline);
      post(url, body).then(function (answer) {
        if (answer.data.ok) { $(dialog).modal("hide"); done(answer.data); }
        else { document.getElementById("stage-dialog-fields").innerHTML = answer.data.html; wireReferences(form); }
      });
    };
    $(dialog).modal("show");
    $(dialog).one("shown.bs.modal", function () {
      var first = form.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });
  }

  function move(url, stage, pipeline, done, failed) {
    var body = new FormData();
    body.set("stage", stage);
    if (pipeline) body.set("pipeline", pipeline);
    post(url, body).then(function (answer) {
      if (answer.data.ok) done(answer.data);
      else if (answer.status === 422 && answer.data.fields && answer.data.fields.length) askForFields(url, stage, pipeline, answer.data, done);
      else failed(answer.data);
    });
  }

  function showError(data) {
    var box = document.getElementById("kanban-error");
    var messages = [];
    Object.keys((data && data.errors) || {}).forEach(function (key) { messages = messages.concat(data.errors[key]); });
    if (box) { box.textContent = messages.join(" ") || "The move was refused."; box.classList.remove("d-none"); }
    else { alert(messages.join(" ") || "The move was refused."); }
  }

  document.querySelectorAll("form[data-stage-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      move(form.action, form.querySelector('input[name="stage"]').value, null,
        function () { window.location.reload(); }, showError);
    });
  });

  /* -- kanban ---------------------------------------------------------------------------- */
  var board = document.querySelector("[data-kanban]");
  if (board) {
    var pipeline = board.dataset.pipeline;
    var urlFor = function (id) { return board.dataset.moveUrl.replace(/\/0\/stage$/, "/" + id + "/stage"); };
    var moveCard = function (card, column) {
      var from = card.closest(".kanban-column");
      if (from === column) return;
      move(urlFor(card.dataset.record), column.dataset.stage, pipeline, function () {
        window.location.reload();
      }, function (data) {
        showError(data);
        card.querySelector("[data-move-select]").value = from.dataset.stage;
      });
    };
    // a card may be dropped only where its column's records may move (the server checks too)
    var dragged = null;
    var accepts = function (column) {
      return dragged !== null && (dragged.dataset.movesTo || "").split(" ").indexOf(column.dataset.stage) >= 0;
    };
    board.addEventListener("dragstart", function (event) {
      var card = event.target.closest(".kanban-card");
      if (!card) return;
      event.dataTransfer.setData("text/plain", card.dataset.record);
      dragged = card.closest(".kanban-column");
      board.querySelectorAll(".kanban-column").forEach(function (column) {
        if (column !== dragged && !accepts(column)) column.classList.add("closed");
      });
    });
    board.addEventListener("dragend", function () {
      dragged = null;
      board.querySelectorAll(".kanban-column.closed").forEach(function (column) { column.classList.remove("closed"); });
    });
    board.querySelectorAll(".kanban-column").forEach(function (column) {
      column.addEventListener("dragover", function (event) {
        if (!accepts(column)) return;  // not a drop target
        event.preventDefault();
        column.classList.add("over");
      });
      column.addEventListener("dragleave", function () { column.classList.remove("over"); });
      column.addEventListener("drop", function (event) {
        event.preventDefault();
        column.classList.remove("over");
        if (!accepts(column)) return;
        var card = board.querySelector('.kanban-card[data-record="' + event.dataTransfer.getData("text/plain") + '"]');
        if (card) moveCard(card, column);
      });
    });
    board.querySelectorAll("[data-move-select]").forEach(function (select) {
      select.addEventListener("change", function () {
        var card = select.closest(".kanban-card");
        moveCard(card, board.querySelector('.kanban-column[data-stage="' + select.value + '"]'));
      });
    });
  }

  /* -- reference inputs: search as you type --------------------------------------------- */
  function wireReferences(root) {
    root.querySelectorAll("input[data-reference]").forEach(function (input) {
      if (input.dataset.wired) return;
      input.dataset.wired = "1";
      var hidden = input.parentNode.querySelector("input[data-reference-value]");
      var list = document.getElementById(input.getAttribute("list"));
      var found = {};
      // what the form came with stands while the box still shows it; anything else typed
      // without picking a suggestion is sent as text, and the server finds the record
      if (hidden.value) found[input.value] = hidden.value;
      input.addEventListener("input", function () {
        var text = input.value;
        hidden.value = found[text] !== undefined ? found[text] : "";
        if (found[text] !== undefined || text.trim().length < 1) return;
        fetch(input.dataset.reference + "?q=" + encodeURIComponent(text.trim()), {
          credentials: "same-origin", headers: { "Accept": "application/json" }
        })
          .then(function (r) { return r.ok ? r.json() : []; })
          .catch(function () { return []; })
          .then(function (items) {
            list.innerHTML = "";
            items.forEach(function (item) {
              var label = item.label || item.title;
              found[label] = item.id;
              var option = document.createElement("option");
              option.value = label;
              list.appendChild(option);
            });
          });
      });
      input.addEventListener("change", function () {
        hidden.value = found[input.value] !== undefined ? found[input.value] : "";
      });
    });
  }
  wireReferences(document);
})();
