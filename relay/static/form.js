/* contact-relay: progressive enhancement for the hosted form.
 *
 * Without this script the form posts normally and the server answers with a
 * page. With it, the form posts with fetch (Accept: application/json) and the
 * answer is shown in place: errors beside their fields, the medical-details
 * notice above the form, or the thank-you (crisis resources first). The
 * visitor's text is never cleared unless the message was accepted.
 *
 * No framework, no inline code (CSP friendly), no innerHTML: the markup comes
 * from <template> elements rendered and escaped by relay/templates, and values
 * from the server are set with textContent. The sentences this script writes come
 * from the page too (#relay-tpl-strings), so they are in the page's language.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-relay-form]");
  if (!form || !window.fetch || !window.URLSearchParams || !window.FormData) {
    return;
  }
  var main = document.getElementById("main") || document.body;
  var button = form.querySelector("button[type=submit]");
  var statusBox = document.getElementById("relay-status");
  var busy = false;
  var submitter = null;
  var SAFE_SCHEMES = /^(tel|sms|mailto|https?):/i;
  var strings = readStrings();

  // The page's sentences by key; English only if a clinic's template left them out.
  function readStrings() {
    var out = {};
    var tpl = document.getElementById("relay-tpl-strings");
    if (tpl && tpl.content) {
      Array.prototype.forEach.call(tpl.content.querySelectorAll("[data-key]"), function (el) {
        out[el.getAttribute("data-key")] = el.textContent;
      });
    }
    return out;
  }

  function say(key, fallback, n) {
    var text = strings[key] || fallback;
    return n === undefined ? text : text.replace("{n}", String(n));
  }

  function fromTemplate(id) {
    var tpl = document.getElementById(id);
    if (!tpl || !tpl.content) {
      return null;
    }
    return document.importNode(tpl.content, true);
  }

  function focusFirst(el) {
    if (!el) {
      return;
    }
    if (!el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus();
    if (el.scrollIntoView) {
      el.scrollIntoView({ block: "start" });
    }
  }

  /* --- busy state ------------------------------------------------------- */

  function setBusy(on) {
    busy = on;
    if (on) {
      form.setAttribute("aria-busy", "true");
    } else {
      form.removeAttribute("aria-busy");
    }
    if (button) {
      button.disabled = on;
      if (!button.hasAttribute("data-label")) {
        button.setAttribute("data-label", button.textContent);
      }
      button.textContent = on ? say("sending", "Sending") : button.getAttribute("data-label");
    }
  }

  /* --- clearing what a previous answer showed ---------------------------- */

  function removeToken(el, attr, token) {
    var tokens = (el.getAttribute(attr) || "").split(/\s+/).filter(function (t) {
      return t && t !== token;
    });
    if (tokens.length) {
      el.setAttribute(attr, tokens.join(" "));
    } else {
      el.removeAttribute(attr);
    }
  }

  function clearMessages() {
    var old = document.querySelectorAll(".field-error");
    Array.prototype.forEach.call(old, function (p) {
      p.parentNode.removeChild(p);
    });
    var fields = form.querySelectorAll(".field-invalid");
    Array.prototype.forEach.call(fields, function (div) {
      div.classList.remove("field-invalid");
    });
    var controls = form.querySelectorAll("[aria-invalid]");
    Array.prototype.forEach.call(controls, function (c) {
      c.removeAttribute("aria-invalid");
      removeToken(c, "aria-describedby", c.id + "-error");
    });
    var notice = document.getElementById("medical-notice");
    if (notice && notice.querySelector("h1")) {
      promoteFormTitle();
    }
    var redact = form.querySelector("button[name=_send_redacted]");
    if (redact) {
      redact.parentNode.removeChild(redact);
    }
    ["error-summary", "medical-notice"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) {
        el.parentNode.removeChild(el);
      }
    });
    if (statusBox) {
      statusBox.hidden = true;
      statusBox.textContent = "";
    }
  }

  // The medical page's notice holds its <h1>: when the notice goes, the form's
  // own heading becomes the page's main heading, so there is always one.
  function promoteFormTitle() {
    var title = document.getElementById("form-title");
    if (!title || title.tagName === "H1") {
      return;
    }
    var h1 = document.createElement("h1");
    h1.id = title.id;
    h1.textContent = title.textContent;
    title.parentNode.replaceChild(h1, title);
  }

  /* --- showing an answer ------------------------------------------------- */

  function control(name) {
    var el = document.getElementById("f-" + name);
    return el && form.contains(el) ? el : null;
  }

  function showFieldErrors(errors) {
    var summary = document.createElement("div");
    summary.className = "error-summary";
    summary.id = "error-summary";
    summary.setAttribute("role", "alert");
    summary.setAttribute("tabindex", "-1");
    summary.setAttribute("aria-labelledby", "error-summary-title");
    var h2 = document.createElement("h2");
    h2.id = "error-summary-title";
    h2.textContent =
      errors.length === 1
        ? say("one-thing", "Please check one thing before sending")
        : say("n-things", "Please check {n} things before sending", errors.length);
    var list = document.createElement("ul");
    summary.appendChild(h2);
    summary.appendChild(list);

    errors.forEach(function (err) {
      var name = String(err.field || "");
      var text = String(err.detail || say("check-field", "Please check this field."));
      var item = document.createElement("li");
      var el = control(name);
      if (el) {
        var link = document.createElement("a");
        link.href = "#" + el.id;
        link.textContent = text;
        item.appendChild(link);
        var p = document.createElement("p");
        p.className = "field-error";
        p.id = el.id + "-error";
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = say("error", "Error:") + " ";
        p.appendChild(hidden);
        p.appendChild(document.createTextNode(text));
        el.parentNode.insertBefore(p, el);
        el.parentNode.classList.add("field-invalid");
        el.setAttribute("aria-invalid", "true");
        removeToken(el, "aria-describedby", p.id);
        el.setAttribute(
          "aria-describedby",
          ((el.getAttribute("aria-describedby") || "") + " " + p.id).trim()
        );
      } else {
        item.textContent = text;
      }
      list.appendChild(item);
    });
    form.parentNode.insertBefore(summary, firstBeforeForm());
    focusFirst(summary);
  }

  // The element that messages go in front of: the notice above the form, if any.
  function firstBeforeForm() {
    var notice = main.querySelector(".notice");
    return notice && notice.parentNode === form.parentNode ? notice : form;
  }

  function showMedical(data) {
    var frag = fromTemplate("relay-tpl-medical");
    if (!frag) {
      showProblem(data.detail);
      return;
    }
    var notice = frag.querySelector("#medical-notice");
    var detail = frag.querySelector(".medical-detail");
    if (detail && data.detail) {
      detail.textContent = String(data.detail);
    }
    if (Array.isArray(data.spans) && data.spans.length) {
      showFound(frag, data.spans);
    }
    form.parentNode.insertBefore(frag, firstBeforeForm());
    focusFirst(notice);
  }

  /* The words found, marked in a read-only copy of the text as the server saw it
   * (line breaks as \n, NFC, trimmed: see relay/submission.py), and the second
   * button that sends the message without them. */
  function showFound(frag, spans) {
    var found = frag.querySelector(".medical-found");
    var list = frag.querySelector(".medical-categories");
    var copy = frag.querySelector(".medical-highlight");
    if (!found || !list || !copy) {
      return;
    }
    var names = {};
    var catalog = document.getElementById("relay-tpl-categories");
    if (catalog && catalog.content) {
      Array.prototype.forEach.call(catalog.content.querySelectorAll("li"), function (li) {
        names[li.getAttribute("data-category")] = li.textContent;
      });
    }
    var byField = {};
    var seen = {};
    spans.forEach(function (span) {
      var category = String(span.category || "");
      if (/^crisis/.test(category)) {
        return;
      }
      var field = String(span.field || "message");
      (byField[field] = byField[field] || []).push(span);
      if (!seen[category]) {
        seen[category] = true;
        var li = document.createElement("li");
        li.setAttribute("data-category", category);
        li.textContent = names[category] || names[""] || category;
        list.appendChild(li);
      }
    });
    Object.keys(byField).forEach(function (field) {
      var el = control(field);
      if (!el) {
        return;
      }
      var text = el.value.replace(/\r\n?/g, "\n");
      text = (text.normalize ? text.normalize("NFC") : text).trim();
      var p = document.createElement("p");
      p.className = "highlighted-text";
      p.setAttribute("data-field", field);
      var last = 0;
      byField[field]
        .slice()
        .sort(function (a, b) {
          return a.start - b.start;
        })
        .forEach(function (span) {
          var start = Math.max(Number(span.start) || 0, last);
          var end = Math.min(Number(span.end) || 0, text.length);
          if (end <= start) {
            return;
          }
          p.appendChild(document.createTextNode(text.slice(last, start)));
          var mark = document.createElement("mark");
          mark.setAttribute("data-category", String(span.category || ""));
          mark.textContent = text.slice(start, end);
          p.appendChild(mark);
          last = end;
        });
      p.appendChild(document.createTextNode(text.slice(last)));
      copy.appendChild(p);
    });
    found.hidden = false;
    var hint = frag.querySelector(".medical-redact-hint");
    if (hint) {
      hint.hidden = false;
    }
    var redact = fromTemplate("relay-tpl-redact");
    var actions = form.querySelector(".actions");
    if (redact && actions) {
      actions.appendChild(document.createTextNode(" "));
      actions.appendChild(redact);
    }
  }

  function showProblem(detail, retryAfter) {
    if (!statusBox) {
      return;
    }
    statusBox.textContent = "";
    var p = document.createElement("p");
    var text = detail || say("failed", "Something went wrong and your message was not sent.");
    if (retryAfter && /^\d+$/.test(retryAfter)) {
      var secs = parseInt(retryAfter, 10);
      text +=
        " " +
        (secs <= 90
          ? say("retry-minute", "You can try again in a minute.")
          : say("retry-minutes", "You can try again in {n} minutes.", Math.ceil(secs / 60)));
    }
    p.textContent = text + " " + say("text-kept", "Your text is still here.");
    statusBox.appendChild(p);
    statusBox.hidden = false;
    focusFirst(statusBox);
  }

  function resourceItem(res) {
    var li = document.createElement("li");
    li.className = "resource";
    var name = document.createElement("h2");
    name.className = "resource-name";
    name.textContent = String(res.name || "");
    li.appendChild(name);
    var contact = document.createElement("span");
    contact.className = "resource-contact";
    contact.textContent = String(res.contact || "");
    var href = String(res.href || "");
    if (href && SAFE_SCHEMES.test(href)) {
      var a = document.createElement("a");
      a.className = "resource-link";
      a.href = href;
      a.appendChild(contact);
      li.appendChild(a);
    } else {
      li.appendChild(contact);
    }
    var purpose = document.createElement("p");
    purpose.className = "resource-purpose";
    purpose.textContent = String(res.purpose || "");
    li.appendChild(purpose);
    return li;
  }

  function replaceMain(frag) {
    while (main.firstChild) {
      main.removeChild(main.firstChild);
    }
    main.appendChild(frag);
    var h1 = main.querySelector("h1");
    if (h1) {
      document.title = h1.textContent + " - " + document.title.replace(/^.* - /, "");
    }
    focusFirst(h1 || main);
    window.scrollTo(0, 0);
  }

  function showCrisis(data) {
    var frag = fromTemplate("relay-tpl-crisis");
    if (!frag) {
      showThanks(data);
      return;
    }
    var list = frag.querySelector(".resources");
    if (list && Array.isArray(data.resources) && data.resources.length) {
      while (list.firstChild) {
        list.removeChild(list.firstChild);
      }
      data.resources.forEach(function (res) {
        list.appendChild(resourceItem(res));
      });
    }
    var note = frag.querySelector(".crisis-note");
    if (note && data.note) {
      note.textContent = String(data.note);
    }
    // Nothing above the resources but their heading: the clinic's header goes.
    var header = document.querySelector("header.site");
    if (header) {
      header.hidden = true;
    }
    replaceMain(frag);
  }

  function showThanks(data) {
    var frag = fromTemplate("relay-tpl-thanks");
    if (!frag) {
      form.hidden = true;
      showProblem(say("sent", "Thank you, your message was sent."));
      return;
    }
    if (Array.isArray(data.resources) && data.resources.length) {
      var support = fromTemplate("relay-tpl-support");
      if (support) {
        frag.appendChild(support);
      }
    }
    replaceMain(frag);
  }

  /* --- the exchange -------------------------------------------------------- */

  function handle(response, data) {
    data = data || {};
    // A 2xx without JSON (a proxy that rewrote the answer) still means "stored":
    // saying "not sent" there would invite a duplicate.
    if (response.ok && (data.status === "accepted" || !data.status)) {
      var lang = String(data.language || "");
      if (data.verdict === "crisis" && lang && lang !== document.documentElement.lang) {
        // Written in another language than this page's: the crisis page in theirs.
        window.location.assign(form.action + "/support?lang=" + encodeURIComponent(lang));
        return;
      }
      if (data.verdict === "crisis") {
        showCrisis(data);
      } else {
        showThanks(data);
      }
      return;
    }
    var type = String(data.type || "");
    var answered = (response.headers.get("Content-Language") || "").split(",")[0].trim();
    if (response.status === 422 && answered && answered !== document.documentElement.lang) {
      // The server answers in the language the message was written in, and this page
      // speaks another: post again without the script (nothing was stored), so the
      // whole page comes back in the visitor's language with their text kept.
      postWithoutScript();
      return;
    }
    if (response.status === 422 && /\/medical-content$/.test(type)) {
      showMedical(data);
      return;
    }
    if (response.status === 422 && Array.isArray(data.errors) && data.errors.length) {
      showFieldErrors(data.errors);
      return;
    }
    var fallback = {
      413: say("too-large", "Your message is too long to send. Please shorten it."),
      429: say("too-many", "Too many messages were sent from here in a short time."),
      503: say("unavailable", "We cannot take messages right now."),
    }[response.status];
    showProblem(
      String(data.detail || fallback || say("not-sent", "Your message was not sent.")),
      response.headers.get("Retry-After")
    );
  }

  function postWithoutScript() {
    if (submitter && submitter.name) {
      var flag = document.createElement("input");
      flag.type = "hidden";
      flag.name = submitter.name;
      flag.value = submitter.value;
      form.appendChild(flag);
    }
    HTMLFormElement.prototype.submit.call(form); // no submit event: a plain post
  }

  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (!/json/i.test(type)) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () {
      return null;
    });
  }

  /* --- proof of work (only for forms that ask for it: data-pow) ------------ */
  /* ALTCHA v1: find n in [0, maxNumber] with SHA-256(salt + n) == challenge, then
   * send the solution, base64 JSON, in the hidden "altcha" field. */

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  function solve(challenge) {
    var encoder = new TextEncoder();
    var batch = 500;
    function tryFrom(start) {
      if (start > challenge.maxNumber) {
        return Promise.reject(new Error("unsolved"));
      }
      var tries = [];
      for (var n = start; n < start + batch && n <= challenge.maxNumber; n++) {
        tries.push(
          crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)).then(hex)
        );
      }
      return Promise.all(tries).then(function (hashes) {
        var found = hashes.indexOf(challenge.challenge);
        return found >= 0 ? start + found : tryFrom(start + batch);
      });
    }
    return tryFrom(0).then(function (number) {
      return btoa(
        JSON.stringify({
          algorithm: challenge.algorithm,
          challenge: challenge.challenge,
          number: number,
          salt: challenge.salt,
          signature: challenge.signature,
        })
      );
    });
  }

  function proveWork() {
    var url = form.getAttribute("data-pow");
    var field = form.elements.namedItem("altcha");
    if (!url || !field) {
      return Promise.resolve();
    }
    if (!window.crypto || !crypto.subtle || !window.TextEncoder) {
      return Promise.reject(new Error("no crypto"));
    }
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("no challenge");
        }
        return response.json();
      })
      .then(solve)
      .then(function (payload) {
        field.value = payload;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // Which button sent it ("Send without these words" adds _send_redacted=1).
    submitter = event.submitter || null;
    if (busy) {
      return;
    }
    setBusy(true);
    proveWork()
      .then(send, function () {
        setBusy(false);
        clearMessages();
        showProblem(
          say(
            "pow-failed",
            "This form could not finish its spam check in your browser, so your message " +
              "was not sent. Please reload the page and try again, or call us."
          )
        );
      });
  });

  function send() {
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) {
      body.append(submitter.name, submitter.value);
    }
    fetch(form.action, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
      },
      body: body.toString(),
      credentials: "same-origin",
    })
      .then(function (response) {
        return readJson(response).then(function (data) {
          setBusy(false);
          clearMessages();
          handle(response, data);
        });
      })
      .catch(function () {
        setBusy(false);
        clearMessages();
        showProblem(
          say(
            "offline",
            "We could not reach the clinic's server, so your message was not sent. " +
              "Please check your connection and try again."
          )
        );
      });
  }

  // A page that arrived with errors (no script the first time): start at the list.
  var summary = document.getElementById("error-summary");
  if (summary) {
    focusFirst(summary);
  }
})();
