// Progressive enhancement only: every page works without this file.
// The filter selects on the Matches page apply as soon as they change.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select").forEach(function (select) {
    if (select.form && select.form.method.toLowerCase() === "get") {
      select.addEventListener("change", function () { select.form.submit(); });
    }
  });
});
