// 网格助手 管理后台: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Ask before the steps residents are told about and cannot be taken back quietly.
  var confirmText = {
    reject: "确定退回这个工单吗？居民会在群里看到退回理由。",
    merge: "确定合并吗？这个工单会关闭，反映人改为关注保留的工单。",
    resolve: "确定办结吗？群里会请居民评价。",
  };
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = confirmText[form.getAttribute("data-action")];
    if (text && !window.confirm(text)) {
      event.preventDefault();
      return;
    }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      // one click, one step: a double click must not post twice
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
