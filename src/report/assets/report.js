document.documentElement.classList.add('js');
(function(){
 var all=function(open){document.querySelectorAll('details').forEach(function(d){d.open=open;});};
 var saved=[];
 var sel='details.check:not(.s-pass), details.check:not(.s-pass) details.x';
 window.addEventListener('beforeprint',function(){saved=[];document.querySelectorAll('details').forEach(function(d){saved.push(d.open);if(d.matches(sel))d.open=true;});});
 window.addEventListener('afterprint',function(){document.querySelectorAll('details').forEach(function(d,i){if(i<saved.length)d.open=saved[i];});});
 document.addEventListener('click',function(e){var b=e.target.closest&&e.target.closest('[data-all]');if(b){all(b.getAttribute('data-all')==='open');}});
})();
