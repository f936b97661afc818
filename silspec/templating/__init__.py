"""The bounded Jinja sandbox and the template context, shared by the checker and the plan.

Lint renders every template the way ``plan`` will (``silspec.plan.render``), so both need the
same environment and the same names in scope; keeping them here, below both, lets each import
them without reaching sideways. Imports nothing above ``silspec.spec.model``.
"""
