// Northstar's few behaviours. A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  // <button data-copy="#field">: copy the field's value to the clipboard.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    const field = document.querySelector(button.dataset.copy);
    if (!field) {
      return;
    }
    field.select();
    const say = function (text) {
      button.textContent = text;
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(
        function () { say("Copied"); },
        function () { say("Press Ctrl+C"); }
      );
    } else {
      say("Press Ctrl+C");
    }
  });

  // The user menu (<details class="user-menu">) closes on a click elsewhere or on Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.open = false;
      }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
})();
