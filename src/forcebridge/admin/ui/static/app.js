// ForceBridge admin: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Show only the credential inputs of the chosen authentication type.
  function syncAuthParts(select) {
    var group = select.getAttribute("data-toggles");
    document.querySelectorAll('[data-group="' + group + '"]').forEach(function (part) {
      var visible = part.getAttribute("data-when").split(" ").indexOf(select.value) !== -1;
      part.hidden = !visible;
    });
  }
  document.querySelectorAll("select[data-toggles]").forEach(function (select) {
    syncAuthParts(select);
    select.addEventListener("change", function () { syncAuthParts(select); });
  });

  // Copy buttons: copy the named field and say so (for screen readers too).
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) { return; }
      field.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  // Destructive forms ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // Load an exported mapping file into the import textarea.
  document.querySelectorAll("input[type=file][data-load-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-load-into"));
      var file = input.files && input.files[0];
      if (!target || !file) { return; }
      file.text().then(function (text) { target.value = text; });
    });
  });

  // The custom lifespan inputs matter only when "Custom" is picked.
  var custom = document.getElementById("lifespan-custom");
  if (custom) {
    var amount = document.getElementById("custom_amount");
    var update = function () { amount.required = custom.checked; };
    document.querySelectorAll('input[name="lifespan"]').forEach(function (radio) {
      radio.addEventListener("change", update);
    });
    amount.addEventListener("focus", function () { custom.checked = true; update(); });
    update();
  }
})();
