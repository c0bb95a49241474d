// The pack editor: Ace over the form's textarea, live diagnostics, fixtures on demand.
// No inline script anywhere: the page's data comes from the form's data-* attributes.
(function () {
  "use strict";
  var form = document.getElementById("draft-form");
  var textarea = document.getElementById("content");
  var holder = document.getElementById("editor");
  var problems = document.getElementById("problems");
  var fixtures = document.getElementById("fixtures");
  var state = document.getElementById("check-state");
  if (!form || !textarea) { return; }
  var csrfHeader = form.dataset.csrfHeader, csrf = form.dataset.csrf;
  var catalog = JSON.parse(form.dataset.catalog || "{}");
  var editor = null;

  function text() { return editor ? editor.getValue() : textarea.value; }

  function post(url, body) {
    var headers = { "Content-Type": "application/json" };
    headers[csrfHeader] = csrf;
    return fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body),
                        credentials: "same-origin" }).then(function (r) { return r.json(); });
  }

  function item(cls) { var li = document.createElement("li"); li.className = cls; return li; }

  function goTo(line) {
    if (editor) { editor.gotoLine(line, 0, true); editor.focus(); }
    else { textarea.focus(); }
  }

  function showProblems(list) {
    problems.textContent = "";
    if (!list.length) {
      var none = item("none muted"); none.textContent = "None found."; problems.appendChild(none);
    }
    list.forEach(function (p) {
      var li = item(p.level);
      var a = document.createElement("a");
      a.href = "#content"; a.textContent = "line " + p.line; a.dataset.line = p.line;
      li.appendChild(a);
      li.appendChild(document.createTextNode(": " + p.message));
      if (p.hint) {
        var hint = document.createElement("span"); hint.className = "hint"; hint.textContent = p.hint;
        li.appendChild(hint);
      }
      problems.appendChild(li);
    });
    if (editor) {
      editor.session.setAnnotations(list.map(function (p) {
        return { row: Math.max(p.line - 1, 0), column: Math.max(p.column - 1, 0),
                 text: p.message + (p.hint ? " (" + p.hint + ")" : ""),
                 type: p.level === "error" ? "error" : "warning" };
      }));
    }
  }

  problems.addEventListener("click", function (event) {
    var line = event.target && event.target.dataset ? event.target.dataset.line : null;
    if (line) { event.preventDefault(); goTo(parseInt(line, 10)); }
  });

  var timer = null, asked = 0;
  function check() {
    var mine = ++asked;
    state.textContent = "checking…";
    post(form.dataset.validate, { content: text() }).then(function (answer) {
      if (mine !== asked) { return; }
      showProblems(answer.diagnostics || []);
      var errors = (answer.diagnostics || []).filter(function (p) { return p.level === "error"; });
      state.textContent = errors.length ? errors.length + " error(s)" :
        (answer.pack ? "valid: " + answer.pack.id + " " + answer.pack.version : "");
    }).catch(function () { state.textContent = "could not check (offline?)"; });
  }
  function later() { clearTimeout(timer); timer = setTimeout(check, 400); }

  function runFixtures() {
    fixtures.textContent = "Running…";
    post(form.dataset.fixtures, { content: text() }).then(function (answer) {
      fixtures.textContent = "";
      var summary = document.createElement("p");
      var cases = answer.cases || [];
      var failed = cases.filter(function (c) { return !c.passed; }).length;
      summary.className = answer.ok ? "ok" : "error";
      summary.textContent = answer.error ? answer.error : answer.note ? answer.note :
        (cases.length - failed) + " of " + cases.length + " cases passed";
      fixtures.appendChild(summary);
      var shown = failed ? cases.filter(function (c) { return !c.passed; }) : cases;
      if (!shown.length) { return; }
      var table = document.createElement("table"); table.className = "fixtures";
      var caption = document.createElement("caption");
      caption.textContent = failed ? "Failing cases" : "Cases";
      table.appendChild(caption);
      shown.forEach(function (c) {
        var tr = document.createElement("tr");
        var name = document.createElement("td"); name.textContent = c.name;
        var result = document.createElement("td");
        result.className = c.passed ? "passed" : "failed";
        result.textContent = c.passed ? "passed" : "failed: " + c.problems.join("; ");
        tr.appendChild(name); tr.appendChild(result); table.appendChild(tr);
      });
      fixtures.appendChild(table);
    }).catch(function () { fixtures.textContent = "Could not run the fixtures."; });
  }
  document.getElementById("run-fixtures").addEventListener("click", runFixtures);

  if (window.ace) {
    ace.config.set("basePath", "/static/vendor/ace");
    holder.hidden = false;
    textarea.hidden = true;
    document.querySelector("label[for=content]").setAttribute("for", "editor");
    editor = ace.edit(holder, {
      mode: "ace/mode/yaml", theme: "ace/theme/github", useWorker: false, tabSize: 2,
      useSoftTabs: true, showPrintMargin: false, enableBasicAutocompletion: true,
      enableLiveAutocompletion: true
    });
    editor.setValue(textarea.value, -1);
    editor.textInput.getElement().setAttribute("aria-label", "Pack YAML");
    var words = [];
    (catalog.metrics || []).forEach(function (m) { words.push({ caption: m, value: m, meta: "metric" }); });
    (catalog.actions || []).forEach(function (a) { words.push({ caption: a, value: a, meta: "action" }); });
    ace.require("ace/ext/language_tools").setCompleters([{
      getCompletions: function (ed, session, pos, prefix, callback) { callback(null, words); }
    }]);
    editor.session.on("change", later);
    form.addEventListener("submit", function () { textarea.value = editor.getValue(); });
  } else {
    textarea.addEventListener("input", later);
  }
  check();
})();
