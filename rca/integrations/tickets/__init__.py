"""Ticketing and monitoring tools in (ServiceNow, Jira Service Management, Splunk, Dynatrace, mapped generic
webhooks) and ticket write-back out (ServiceNow work notes, Jira comments)."""
