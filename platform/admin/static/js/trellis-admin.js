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
