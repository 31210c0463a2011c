/* Shelfwise storefront: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  document.addEventListener("DOMContentLoaded", function () {
    // Ask before destructive actions (e.g. cancelling an order).
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });

    // Submit once: the server is idempotent anyway, but a disabled button says "working".
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          window.setTimeout(function () {
            button.disabled = true;
            button.textContent = "Placing your order…";
          }, 0);
        });
      });
    });

    // Quantity and filter changes apply without pressing a button.
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.querySelectorAll("select, input[type=checkbox], input[type=number]").forEach(
        function (input) {
          input.addEventListener("change", function () {
            if (typeof form.requestSubmit === "function") {
              form.requestSubmit();
            } else {
              form.submit();
            }
          });
        }
      );
    });
  });
})();
