"""What people look at: plots (:mod:`rca.views.plot`) and the HTML report (:mod:`rca.views.report`), pure functions of a result."""
