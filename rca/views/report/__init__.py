"""The incident report: one self-contained HTML page per analysis.

The page holds the incident summary, the ranked causes with confidence and
evidence, the topology picture, the metric charts and the Granger matrix.
Pictures are embedded as base64 PNG and the page loads nothing from anywhere
(its Content-Security-Policy forbids it), so it can be mailed, attached to a
ticket or served as is.

>>> from rca.views.report import render_report, write_report  # doctest: +SKIP
>>> write_report("incident.html", result, graph, metrics)  # doctest: +SKIP

Serving it from an HTTP route that stored ``result.to_dict()`` is one call::

    html = render_report(result_from_dict(stored), graph, metrics)
    return HTMLResponse(html)
"""

from rca.views.report.html import REPORT_MEDIA_TYPE, render_report, write_report
from rca.views.report.restore import result_from_dict

__all__ = ["render_report", "write_report", "result_from_dict", "REPORT_MEDIA_TYPE"]
