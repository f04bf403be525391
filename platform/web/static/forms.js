/* Behaviours declared with data- attributes, for the app and the admin UI alike (the
   Content Security Policy runs no inline event handlers):
   - form[data-confirm="Question?"]: asks before submitting;
   - select[data-submit-on-change]: submits its form on change, through the button whose id
     the attribute names, if any;
   - Flask-Admin's "javascript:void(0)" links (its menu's dropdown toggles) become "#" links
     whose default is prevented: the policy refuses to run a "javascript:" URL. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm !== undefined && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("[data-submit-on-change]")) return;
    var submitter = select.dataset.submitOnChange && document.getElementById(select.dataset.submitOnChange);
    // through the prototype: a control named "submit" hides the form's own method
    if (submitter && select.form.requestSubmit) HTMLFormElement.prototype.requestSubmit.call(select.form, submitter);
    else HTMLFormElement.prototype.submit.call(select.form);
  });

  document.querySelectorAll('a[href^="javascript:"]').forEach(function (link) {
    link.setAttribute("href", "#");
    link.addEventListener("click", function (event) { event.preventDefault(); });
  });
})();
