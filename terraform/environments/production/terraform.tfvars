# Production: names of what already exists in the production account. The pipeline passes
# image_tag and launcher_zip on the command line.
environment                 = "production"
vpc_name                    = "housing-production"
private_subnet_name_pattern = "housing-production-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-production"

# One vCPU feeds about 15,000 documents/s, more than a nightly rebuild gets from the domain;
# 2 GB is Fargate's smallest memory for one vCPU (runs measure under 150 MB).
task_cpu    = 1024
task_memory = 2048
# On-demand: a reclaimed nightly rebuild resumes only when someone starts it again.
fargate_spot = false

# Nightly rebuilds read live tables: cap their read capacity (RCU/s) so users' traffic keeps
# its share. An event's maxReadUnits overrides it for one run.
tuning_defaults = { max_read_units = 1000 }

# Alarms and task outcomes always reach the module's SNS topic (output alerts_topic_arn);
# list further targets here, e.g. the on-call pager's topic.
alarm_actions = []

# Nightly rebuilds, an hour apart, outside office hours (UTC).
schedules = {
  "rebuild-persons" = { schedule_expression = "cron(0 1 * * ? *)", table = "Persons", index = "persons" }
  "rebuild-tenures" = { schedule_expression = "cron(0 2 * * ? *)", table = "TenureInformation", index = "tenures" }
  "rebuild-assets"  = { schedule_expression = "cron(0 3 * * ? *)", table = "Assets", index = "assets" }
}
