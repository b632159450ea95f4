"""Other tools in and out: alerts and tickets received (:mod:`rca.integrations.alerts`) and answers written back (:mod:`rca.integrations.notify`)."""
