/* Autosave for the survey pages (surveys/templates/surveys/dimension.html).
 *
 * Every change marks its question "not saved yet" and is kept in localStorage until the
 * server confirms it; the status line says "Saved at ..." only for a 200 answer of the
 * autosave endpoint, which the server sends after its transaction committed. Anything
 * else says "Not saved: <reason>" with a Retry button. The server's JSON contract is in
 * the README ("Taking a survey"). Without this script the page's buttons post the form.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-autosave-url]");
  if (!form || !window.fetch || !window.URLSearchParams) return;

  var autosaveUrl = form.dataset.autosaveUrl;
  var sessionUrl = form.dataset.sessionUrl;
  var storageKey = form.dataset.storageKey;
  var respondent = form.dataset.respondent || "";
  var status = document.getElementById("save-status");
  var retryButton = document.getElementById("save-retry");
  var loginLink = document.getElementById("save-login");
  var progress = document.getElementById("progress");
  var tokenInput = form.querySelector("input[name=csrfmiddlewaretoken]");

  var TYPING_DELAY = 800; // ms after the last keystroke in a comment
  var FIRST_RETRY = 5000; // ms; doubles after each failure, up to MAX_RETRY
  var MAX_RETRY = 60000;

  var pending = new Map(); // question key -> {choice, comment} not yet confirmed
  var sending = null; // the promise of the request in flight
  var again = false; // a change arrived while a request was in flight
  var typingTimer = null;
  var retryTimer = null;
  var retryDelay = 0;
  var closed = false; // the survey takes no answers: stop sending

  // --- the form ------------------------------------------------------------------------

  function fieldsetOf(key) {
    var found = null;
    form.querySelectorAll("fieldset[data-question]").forEach(function (fieldset) {
      if (fieldset.dataset.question === key) found = fieldset;
    });
    return found;
  }

  function readValue(fieldset) {
    var checked = fieldset.querySelector("input[type=radio]:checked");
    var comment = fieldset.querySelector("textarea");
    return { choice: checked ? checked.value : "", comment: comment ? comment.value : "" };
  }

  function applyValue(fieldset, value) {
    var radios = fieldset.querySelectorAll("input[type=radio]");
    var offered = Array.prototype.some.call(radios, function (radio) {
      return radio.value === value.choice;
    });
    // A choice this page does not offer (changed framework, tampered storage) is not
    // applied: what is on screen is what will be sent.
    if (offered || value.choice === "") {
      radios.forEach(function (radio) { radio.checked = radio.value === value.choice; });
    }
    var comment = fieldset.querySelector("textarea");
    if (comment) comment.value = value.comment;
  }

  function same(a, b) {
    return !!a && !!b && a.choice === b.choice && a.comment === b.comment;
  }

  function markQuestion(key, state, message) {
    var fieldset = fieldsetOf(key);
    if (!fieldset) return;
    var note = fieldset.querySelector(".q-state");
    if (!state) {
      delete fieldset.dataset.saveState;
      if (note) note.remove();
      return;
    }
    fieldset.dataset.saveState = state;
    if (!note) {
      note = document.createElement("p");
      note.className = "q-state";
      fieldset.querySelector("legend").insertAdjacentElement("afterend", note);
    }
    note.textContent = message || "Not saved yet";
  }

  function questionLabel(key) {
    var fieldset = fieldsetOf(key);
    var number = fieldset && fieldset.querySelector(".qnum");
    return number ? "question " + number.textContent.replace(/\.$/, "") : key;
  }

  // --- browser storage: the pending answers survive a reload or a crash ----------------

  function loadStored() {
    try {
      var parsed = JSON.parse(window.localStorage.getItem(storageKey) || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (error) {
      return {};
    }
  }

  function updateStored(change) {
    // Read, change, write at once: another tab of the same page may have written since.
    try {
      var stored = loadStored();
      change(stored);
      if (Object.keys(stored).length) {
        window.localStorage.setItem(storageKey, JSON.stringify(stored));
      } else {
        window.localStorage.removeItem(storageKey);
      }
    } catch (error) {
      // Storage disabled or full: the answers are still on screen and in memory.
    }
  }

  function markPending(key) {
    var fieldset = fieldsetOf(key);
    if (!fieldset) return;
    var value = readValue(fieldset);
    pending.set(key, value);
    updateStored(function (stored) {
      stored[key] = { choice: value.choice, comment: value.comment, changed_at: Date.now() };
    });
    markQuestion(key, "unsaved");
  }

  function confirmSaved(sent, savedKeys) {
    // Forget only what the server confirmed and has not changed since it was sent.
    savedKeys.forEach(function (key) {
      var value = sent.get(key);
      if (!value) return;
      if (same(pending.get(key), value)) {
        pending.delete(key);
        markQuestion(key, null);
        var fieldset = fieldsetOf(key);
        if (fieldset) {
          fieldset.removeAttribute("data-unsaved");
          fieldset.classList.remove("has-error");
          var old = fieldset.querySelector("p.error");
          if (old) old.remove();
        }
      }
      updateStored(function (stored) {
        if (same(stored[key], value)) delete stored[key];
      });
    });
    var notice = document.getElementById("kept-notice");
    if (notice && !pending.size) notice.remove();
  }

  // --- the status line -----------------------------------------------------------------

  function showStatus(text, kind, options) {
    options = options || {};
    status.textContent = text;
    status.className = "save-status" + (kind ? " " + kind : "");
    retryButton.hidden = !options.retry;
    loginLink.hidden = !options.login;
  }

  function twoDigits(number) {
    return (number < 10 ? "0" : "") + number;
  }

  function clockTime(iso) {
    var moment = new Date(iso);
    if (isNaN(moment.getTime())) moment = new Date();
    return [moment.getHours(), moment.getMinutes(), moment.getSeconds()].map(twoDigits).join(":");
  }

  function updateProgress(data) {
    if (!progress || !data || typeof data.answered !== "number") return;
    var bar = progress.querySelector("progress");
    var label = progress.querySelector("#progress-label");
    if (bar) {
      bar.max = data.total;
      bar.value = data.answered;
    }
    if (label) {
      label.textContent = data.answered + " of " + data.total + " questions answered (" +
        data.percent + "%)";
    }
  }

  // --- talking to the server -----------------------------------------------------------

  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (response.type === "opaqueredirect" || type.indexOf("application/json") === -1) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () { return null; });
  }

  function refreshSession() {
    // The CSRF token rotates at every login: fetch the current one before retrying.
    return fetch(sessionUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        return readJson(response).then(function (data) {
          if (response.ok && data && data.csrf_token) {
            tokenInput.value = data.csrf_token; // the page's own buttons post it too
            return data;
          }
          return null;
        });
      })
      .catch(function () { return null; });
  }

  function scheduleRetry(reason) {
    retryDelay = Math.min(MAX_RETRY, retryDelay ? retryDelay * 2 : FIRST_RETRY);
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(save, retryDelay);
    showStatus(
      "Not saved: " + reason + ". Trying again in " + Math.round(retryDelay / 1000) + " s.",
      "error",
      { retry: true }
    );
  }

  function send(sent, freshToken) {
    var body = new URLSearchParams();
    sent.forEach(function (value, key) {
      body.append("q-" + key, value.choice);
      body.append("comment-" + key, value.comment);
    });
    body.append("respondent", respondent);
    return fetch(autosaveUrl, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json", "X-CSRFToken": tokenInput.value },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual", // a redirect (to a login page, say) is a failure, never followed
    }).then(function (response) {
      return readJson(response).then(function (data) {
        if (response.status === 403 && data && data.code === "csrf_failed" && !freshToken) {
          return refreshSession().then(function () { return send(sent, true); });
        }
        return { response: response, data: data };
      });
    });
  }

  function handle(outcome, sent) {
    var response = outcome.response;
    var data = outcome.data || {};
    if (response.status === 200 && data.saved_at) {
      retryDelay = 0;
      var saved = Array.isArray(data.saved) ? data.saved : [];
      confirmSaved(sent, saved);
      updateProgress(data.progress);
      // "Saved" only for what the server says it saved: anything else stays pending.
      var unconfirmed = [];
      sent.forEach(function (value, key) {
        if (saved.indexOf(key) === -1) unconfirmed.push(questionLabel(key));
      });
      if (unconfirmed.length) {
        showStatus("Not saved: " + unconfirmed.join(", ") + ".", "error", { retry: true });
      } else {
        showStatus("Saved at " + clockTime(data.saved_at), "saved");
      }
      return;
    }
    if (response.status === 422 && data.errors) {
      confirmSaved(sent, data.saved || []);
      updateProgress(data.progress);
      var reasons = Object.keys(data.errors).map(function (key) {
        markQuestion(key, "error", "Not saved: " + data.errors[key]);
        return questionLabel(key) + ": " + data.errors[key];
      });
      showStatus("Not saved: " + reasons.join(" "), "error", { retry: true });
      return;
    }
    if (response.status === 401 || response.type === "opaqueredirect") {
      var why = data.code === "other_respondent"
        ? "you are signed in as someone else"
        : "your session has expired";
      showStatus(
        "Not saved: " + why + ". Log in again (a new tab opens), then press Retry.",
        "error",
        { retry: true, login: true }
      );
      return;
    }
    if (response.status === 409) {
      closed = true;
      window.clearTimeout(retryTimer);
      window.clearTimeout(typingTimer);
      showStatus(
        "Not saved: " + (data.detail || "this survey is closed.") +
          " What you typed stays on this page, so you can copy it.",
        "error closed"
      );
      return;
    }
    if (response.status === 400 || response.status === 404 || response.status === 403) {
      showStatus(
        "Not saved: " + (data.detail || "the server refused the answer (" + response.status + ")."),
        "error",
        { retry: true }
      );
      return;
    }
    // 5xx, or an answer we do not understand: an outage, so try again by ourselves.
    scheduleRetry("the server had a problem (" + (response.status || "no answer") + ")");
  }

  function save() {
    window.clearTimeout(typingTimer);
    window.clearTimeout(retryTimer);
    if (closed || !pending.size) return Promise.resolve();
    if (sending) {
      again = true;
      return sending;
    }
    var sent = new Map(pending);
    showStatus("Saving…", "saving");
    sending = send(sent, false)
      .then(function (outcome) { handle(outcome, sent); })
      .catch(function () { scheduleRetry("no connection to the server"); })
      .then(function () {
        sending = null;
        if (again) {
          again = false;
          return save();
        }
        return undefined;
      });
    return sending;
  }

  function retryNow() {
    retryDelay = 0;
    showStatus("Saving…", "saving");
    refreshSession().then(function () {
      if (pending.size) {
        save();
      } else {
        showStatus("Nothing left to save.", "saved");
      }
    });
  }

  // --- wiring --------------------------------------------------------------------------

  function questionOf(target) {
    var fieldset = target.closest && target.closest("fieldset[data-question]");
    return fieldset ? fieldset.dataset.question : null;
  }

  form.addEventListener("change", function (event) {
    // Comments are followed by their "input" events; a choice is sent at once.
    var key = questionOf(event.target);
    if (!key || closed || event.target.type !== "radio") return;
    markPending(key);
    save();
  });

  form.addEventListener("input", function (event) {
    var key = questionOf(event.target);
    if (!key || closed || event.target.tagName !== "TEXTAREA") return;
    markPending(key); // kept in storage at once: closing the tab loses nothing
    showStatus("Not saved yet…", "saving");
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(save, TYPING_DELAY);
  });

  form.addEventListener("submit", function (event) {
    // The buttons post the whole page, which saves it; once closed that would only lead
    // away from the text the person may still want to copy.
    if (closed) {
      event.preventDefault();
      var message = status.textContent;
      status.textContent = "";
      window.setTimeout(function () { status.textContent = message; }, 100); // announce again
    }
  });

  retryButton.addEventListener("click", retryNow);

  // Restore what a previous visit typed but the server never confirmed, then send it.
  var stored = loadStored();
  Object.keys(stored).forEach(function (key) {
    var value = stored[key];
    var fieldset = fieldsetOf(key);
    var valid = value && typeof value.choice === "string" && typeof value.comment === "string";
    if (!fieldset || !valid) {
      if (!valid) updateStored(function (all) { delete all[key]; });
      return;
    }
    // The page shows the server's answer unless it is marked unsaved: equal means saved
    // (the page's own Save button posted it, say).
    if (!fieldset.hasAttribute("data-unsaved") && same(readValue(fieldset), value)) {
      updateStored(function (all) { delete all[key]; });
      return;
    }
    applyValue(fieldset, value);
    markPending(key);
  });
  // Answers the server kept over a sign-in (no-JavaScript path) are shown, not saved: the
  // notice asks the person to check them and press Save (data-unsaved marks them).
  if (pending.size) {
    showStatus("Saving " + pending.size + " answer(s) not saved before…", "saving");
    save();
  }
})();
