"""Reports: partner KPIs from the lead data; weekly reports and their e-mail later."""
