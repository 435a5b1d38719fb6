"""WALLABY's Airflow DAGs: the survey is described in surveys/wallaby_hires.yaml; these lines are all the Python it
needs. (Airflow only parses files that mention "airflow" and "dag": this docstring does.)"""

from beampipe_provider.surveys.dag import survey_dag, survey_event_dag

wallaby_hires = survey_dag(__file__, "surveys/wallaby_hires.yaml")
wallaby_hires_events = survey_event_dag(__file__, "surveys/wallaby_hires.yaml")
