/**
 * closeloop for Google Forms: posts every submitted (or edited) response to closeloop, signed.
 *
 * Google Forms has no webhooks, so this Apps Script, bound to the form, does the posting.
 * Set-up (see README.md next to this file):
 *   1. Create a closeloop connection: platform "google-forms" and a signing secret.
 *   2. In the form: ⋮ > Script editor, paste this file, then Project Settings > Script
 *      properties: CLOSELOOP_URL = the connection's webhook_url, CLOSELOOP_SECRET = the secret.
 *   3. Run `install` once and grant the permissions it asks for.
 *
 * Signature (checked by crates/domain/src/sources/google_forms.rs):
 *   X-Closeloop-Timestamp: <unix seconds>
 *   X-Closeloop-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
 * closeloop refuses timestamps more than five minutes from its clock, so a captured request
 * cannot be replayed later.
 */

/** Installs the on-submit trigger (run once). */
function install() {
  var form = FormApp.getActiveForm();
  ScriptApp.getProjectTriggers().forEach(function (t) {
    if (t.getHandlerFunction() === 'onFormSubmit') ScriptApp.deleteTrigger(t);
  });
  ScriptApp.newTrigger('onFormSubmit').forForm(form).onFormSubmit().create();
}

/** The on-submit trigger: one POST per response. */
function onFormSubmit(e) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('CLOSELOOP_URL');
  var secret = props.getProperty('CLOSELOOP_SECRET');
  if (!url || !secret) throw new Error('Set CLOSELOOP_URL and CLOSELOOP_SECRET in Script properties');
  var body = JSON.stringify(payload(FormApp.getActiveForm(), e.response));
  var timestamp = Math.floor(Date.now() / 1000).toString();
  var mac = Utilities.computeHmacSha256Signature(timestamp + '.' + body, secret, Utilities.Charset.UTF_8);
  var res = UrlFetchApp.fetch(url, {
    method: 'post',
    contentType: 'application/json',
    payload: body,
    headers: {
      'X-Closeloop-Timestamp': timestamp,
      'X-Closeloop-Signature': 'v1=' + toHex(mac),
    },
    muteHttpExceptions: true,
  });
  var code = res.getResponseCode();
  // 5xx and 429 are transient: throwing makes Apps Script report the failure (and lets you
  // re-run it); 4xx means the form or the connection needs fixing.
  if (code >= 300) throw new Error('closeloop answered ' + code + ': ' + res.getContentText());
}

/** The JSON closeloop reads (see tests/e2e/fixtures/sources/google-forms.json). */
function payload(form, response) {
  var submitted = response.getTimestamp();
  var answers = response.getItemResponses().map(function (ir) {
    var item = ir.getItem();
    var type = item.getType().toString();
    var a = { id: String(item.getId()), title: item.getTitle(), type: type, value: ir.getResponse() };
    if (type === 'SCALE') {
      var s = item.asScaleItem();
      a.min = s.getLowerBound();
      a.max = s.getUpperBound();
    } else if (type === 'RATING') {
      a.min = 1;
      a.max = item.asRatingItem().getRatingScaleLevel();
    }
    return a;
  });
  return {
    // An edited response keeps its id and gets a new timestamp: a new event of the same
    // response, which updates the same feedback in closeloop.
    event_id: response.getId() + ':' + submitted.getTime(),
    response_id: response.getId(),
    form_id: form.getId(),
    form_title: form.getTitle(),
    submitted_at: submitted.toISOString(),
    respondent_email: response.getRespondentEmail() || '',
    answers: answers,
    fields: {},
  };
}

function toHex(bytes) {
  return bytes
    .map(function (b) {
      var v = (b < 0 ? b + 256 : b).toString(16);
      return v.length === 1 ? '0' + v : v;
    })
    .join('');
}
