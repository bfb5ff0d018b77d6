// Progressive enhancement of the Custos consoles. Every page works without
// it; with it: copy buttons for secrets shown once, a question before a
// destructive action, "select all" checkboxes, and focus on a form's error
// summary. Served by custos-kit under a content-hashed path.
(function () {
  'use strict';

  // Copy buttons: <button data-copy="FIELD_ID" data-copy-status="STATUS_ID" hidden>.
  if (navigator.clipboard && window.isSecureContext) {
    document.querySelectorAll('button[data-copy]').forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      var status = document.getElementById(button.dataset.copyStatus);
      if (!field) return;
      button.hidden = false;
      button.addEventListener('click', function () {
        navigator.clipboard.writeText(field.value).then(
          function () {
            if (status) status.textContent = 'Copied';
          },
          function () {
            field.select();
            if (status) status.textContent = 'Selected: press Ctrl+C (or Cmd+C) to copy';
          }
        );
      });
    });
  }

  // Destructive actions: a button (or form) with data-confirm asks first.
  document.addEventListener('submit', function (event) {
    var submitter = event.submitter;
    var question = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Select all: <label data-select-all="NAME" hidden><input type="checkbox"> …</label>
  // ticks every checkbox called NAME in its form.
  document.querySelectorAll('[data-select-all]').forEach(function (label) {
    var toggle = label.querySelector('input[type="checkbox"]');
    var scope = label.closest('form') || document;
    var selector = 'input[type="checkbox"][name="' + CSS.escape(label.dataset.selectAll) + '"]';
    if (!toggle) return;
    var boxes = function () {
      return Array.prototype.slice.call(scope.querySelectorAll(selector));
    };
    var reflect = function () {
      var all = boxes();
      var ticked = all.filter(function (box) { return box.checked; }).length;
      toggle.checked = all.length > 0 && ticked === all.length;
      toggle.indeterminate = ticked > 0 && ticked < all.length;
    };
    label.hidden = false;
    toggle.addEventListener('change', function () {
      boxes().forEach(function (box) { box.checked = toggle.checked; });
    });
    scope.addEventListener('change', function (event) {
      if (event.target !== toggle) reflect();
    });
    reflect();
  });

  // A form that came back with errors: its summary gets the focus, so that
  // keyboard and screen reader users start from the list of problems.
  var summary = document.querySelector('.error-summary');
  if (summary) {
    summary.setAttribute('tabindex', '-1');
    summary.focus();
  }
})();
