// Submits the node's LTI launch form to the tool at once. Without JavaScript the page shows a
// Continue button that does the same. Served as a static file because the node's content security
// policy forbids inline scripts.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-lti-autosubmit]");
  if (form) {
    form.submit();
  }
});
