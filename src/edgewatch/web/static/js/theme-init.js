// Runs before the first paint (a classic script in <head>): applies the saved theme.
(function () {
  try {
    var theme = localStorage.getItem("edgewatch.theme");
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage disabled: follow the system */ }
})();
