// nhiaudit HTML report: sorting and filtering of the findings table; inlined into every report.
(function(){
  var table=document.getElementById('findings-table'); if(!table) return;
  var body=table.tBodies[0], rows=Array.prototype.slice.call(body.querySelectorAll('tr[data-index]'));
  var ids=['filter-text','filter-severity','filter-rule','filter-scope','filter-status','filter-change'];
  function val(id){var el=document.getElementById(id);return el?el.value:'';}
  // search text: the row's visible text plus the identity id, built on the first search only
  function haystack(r){if(r._text===undefined){r._text=(r.textContent+' '+r.dataset.id).toLowerCase();}return r._text;}
  function apply(){
    var text=val('filter-text').trim().toLowerCase(), shown=0;
    rows.forEach(function(r){
      var ok=(!text||haystack(r).indexOf(text)>=0)&&(!val('filter-severity')||r.dataset.severity===val('filter-severity'))
        &&(!val('filter-rule')||r.dataset.rule===val('filter-rule'))&&(!val('filter-scope')||r.dataset.scope===val('filter-scope'))
        &&(!val('filter-status')||r.dataset.status===val('filter-status'))&&(!val('filter-change')||r.dataset.change===val('filter-change'));
      r.hidden=!ok; if(ok) shown++;
    });
    document.getElementById('shown-count').textContent=shown;
  }
  ids.forEach(function(id){var el=document.getElementById(id); if(el){el.addEventListener('input',apply);el.addEventListener('change',apply);}});
  function key(r,col){var c=r.cells[col];var s=c.getAttribute('data-sort');return s!==null?Number(s):c.textContent.trim().toLowerCase();}
  table.querySelectorAll('thead button').forEach(function(btn){
    btn.addEventListener('click',function(){
      var th=btn.parentNode, col=Number(btn.dataset.col), asc=th.getAttribute('aria-sort')!=='ascending';
      table.querySelectorAll('thead th').forEach(function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      rows.sort(function(a,b){var x=key(a,col),y=key(b,col);var d=x<y?-1:x>y?1:0;return (asc?d:-d)||(Number(a.dataset.index)-Number(b.dataset.index));});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  function openTarget(){var id=location.hash.slice(1);var el=id&&document.getElementById(id);if(el&&el.tagName==='DETAILS'){el.open=true;}}
  window.addEventListener('hashchange',openTarget); openTarget(); apply();
  document.documentElement.setAttribute('data-ready','1');
})();
