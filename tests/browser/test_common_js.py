"""frontend/js/common.js's request helper, run in the browser: one recognize request at a time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

SCENARIO = """async () => {
  const { LatestRequest } = await import('./js/common.js');
  const busy = [];
  const requests = new LatestRequest((state) => busy.push(state));
  const hanging = (signal) =>
    new Promise((resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
  const first = requests.run(hanging);
  const second = requests.run(async () => {});
  const superseded = await first;
  const finished = await second;
  let thrown = null;
  try {
    await requests.run(async () => { throw new Error('boom'); });
  } catch (err) {
    thrown = err.message;
  }
  const third = requests.run(hanging);
  requests.cancel();
  return { superseded, finished, thrown, cancelled: await third, busy };
}"""


def test_a_newer_request_supersedes_the_running_one_and_cancel_ends_it(
    open_page: Callable[[str], Page],
) -> None:
    page = open_page("/digit.html")
    outcome = page.evaluate(SCENARIO)
    assert outcome["superseded"] is False  # aborted by the second: its error is not the caller's
    assert outcome["finished"] is True
    assert outcome["thrown"] == "boom"  # the current request's own error is
    assert outcome["cancelled"] is False
    # Busy from the first start to the end of the second, around the failing one, and until cancel.
    assert outcome["busy"] == [True, True, False, True, False, True, False]


def test_an_error_message_and_its_hint_read_as_two_sentences(open_page: Callable[[str], Page]) -> None:
    page = open_page("/digit.html")
    texts = page.evaluate(
        """async () => {
          const { showError, ApiError } = await import('./js/common.js');
          const box = document.createElement('div');
          const read = (message, hint) => {
            showError(box, new ApiError(message, { code: 'empty_image', status: 422 }), hint);
            const hint_ = box.querySelector('.error-hint')?.textContent;
            return box.querySelector('.error-message').textContent + hint_;
          };
          return [read('no digit found: the image has no contrast', 'Draw a digit on the canvas first.'),
                  read('already a sentence.', 'Try again.')];
        }"""
    )
    assert texts == [
        "no digit found: the image has no contrast. Draw a digit on the canvas first.",
        "already a sentence. Try again.",
    ]
