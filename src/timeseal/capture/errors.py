"""The one root of the exceptions the capture clients raise on purpose.

::

    CaptureError
     ├─ EnvironmentCheckFailed          environment/report.py: a refusing check
     ├─ TargetIdentityError             environment/app_identity.py
     ├─ KnownTargetsError (ValueError)  environment/known_targets.py
     ├─ WebCaptureError                 web/errors.py
     │   ├─ StepsError
     │   └─ EnvironmentRefused
     ├─ PhotoError                      recording/photo.py
     ├─ RecordingError                  recording/recorder.py
     ├─ TSAClientError                  clients/tsa.py
     ├─ LogClientError                  clients/log/errors.py
     │   ├─ ReceiptTimeout
     │   └─ ReceiptInvalid
     ├─ RecordingApiError               clients/recordings.py
     ├─ CaptureMetadataError (ValueError)  offline/upload_meta.py
     └─ QueueError (ValueError)         offline/queue.py

Each subclass lives beside the code that raises it; those that were ``ValueError`` stay so,
for callers that catch that. tests/unit/capture/test_errors.py holds every exception class
defined under ``timeseal.capture`` to this root.
"""

from __future__ import annotations


class CaptureError(Exception):
    """Base of every error the capture clients raise on purpose."""
