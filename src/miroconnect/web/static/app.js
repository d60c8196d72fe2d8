// The reference app's only script: feedback while a form's request runs. A submit button
// with `data-busy` is disabled and says what is happening ("Connecting to Miro…"), so a
// second click cannot start a second flow; a page shown again from the browser's history
// (the Back button) gets its buttons back.
document.addEventListener("submit", function (event) {
  var button = event.submitter || event.target.querySelector("button[data-busy]");
  if (!button || !button.hasAttribute("data-busy") || event.defaultPrevented) {
    return;
  }
  button.setAttribute("data-label", button.textContent);
  button.textContent = button.getAttribute("data-busy");
  button.disabled = true;
  event.target.setAttribute("aria-busy", "true");
});

window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[data-label]").forEach(function (button) {
    button.textContent = button.getAttribute("data-label");
    button.removeAttribute("data-label");
    button.disabled = false;
  });
  document.querySelectorAll("form[aria-busy]").forEach(function (form) {
    form.removeAttribute("aria-busy");
  });
});
