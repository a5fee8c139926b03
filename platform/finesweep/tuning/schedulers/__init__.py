"""Trial schedulers beyond Ray's own: MO-ASHA (``pareto_asha``). One objective uses Ray's ASHA."""
