// Filters of each scenario's timeline (by task, cited events only), and the flash of a
// row reached from a check's evidence. No dependencies: the report works offline.
(function () {
  function apply(i) {
    var task = document.querySelector('.task-filter[data-scenario="' + i + '"]').value.trim();
    var cited = document.querySelector('.cited-only[data-scenario="' + i + '"]').checked;
    var rows = document.querySelectorAll('#s' + i + '-timeline tbody tr');
    for (var n = 0; n < rows.length; n++) {
      var r = rows[n];
      var hide = (task !== '' && r.getAttribute('data-task') !== task) ||
                 (cited && !r.classList.contains('cited'));
      r.classList.toggle('hidden', hide);
    }
  }
  document.querySelectorAll('.task-filter, .cited-only').forEach(function (el) {
    el.addEventListener('input', function () { apply(el.getAttribute('data-scenario')); });
    el.addEventListener('change', function () { apply(el.getAttribute('data-scenario')); });
  });
  document.querySelectorAll('a.ev').forEach(function (a) {
    a.addEventListener('click', function () {
      var row = document.getElementById(a.getAttribute('data-row'));
      if (!row) return;
      row.classList.remove('hidden');
      var d = row.closest('details');
      if (d) d.open = true;
      row.classList.add('flash');
      setTimeout(function () { row.classList.remove('flash'); }, 1500);
    });
  });
})();
