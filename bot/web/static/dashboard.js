// 网格助手 管理后台: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Ask before the steps residents are told about and cannot be taken back quietly.
  var confirmText = {
    reject: "确定退回这个工单吗？居民会在群里看到退回理由。",
    merge: "确定合并吗？这个工单会关闭，反映人改为关注保留的工单。",
    resolve: "确定办结吗？群里会请居民评价。",
    "cancel-notice": "确定取消这条通知吗？还没发出的消息会收回，已经发出的无法撤回。",
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

  // The notice compose form: a live preview of what the first group will receive, and the
  // reason a notice would be refused, as staff type.
  var compose = document.getElementById("compose");
  if (compose) {
    var text = document.getElementById("preview-text");
    var meta = document.getElementById("preview-meta");
    var timer = null;
    var refresh = function () {
      fetch(compose.getAttribute("data-preview"), {
        method: "POST", body: new FormData(compose), credentials: "same-origin",
      }).then(function (resp) { return resp.json(); }).then(function (answer) {
        if (answer.error) {
          text.textContent = answer.error;
          text.classList.add("error");
          meta.textContent = "还不能发布：";
        } else {
          text.textContent = answer.text;
          text.classList.remove("error");
          meta.textContent = "将发送到 " + answer.groups + " 个群（" + answer.targets + "），" +
            answer.first + " 发出。第一个群收到的是：";
        }
      }).catch(function () {});
    };
    var later = function () { window.clearTimeout(timer); timer = window.setTimeout(refresh, 300); };
    compose.addEventListener("input", later);
    compose.addEventListener("change", later);
    if (compose.elements.title.value) { refresh(); }  // a form shown again after a refusal
  }
})();
