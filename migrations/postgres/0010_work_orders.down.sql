DROP TABLE IF EXISTS notifications, domain_events, work_order_status_transitions, field_attachments, work_order_worklogs,
	work_order_events, work_order_notes, work_order_assignments, work_orders, availability_blocks, shifts,
	technician_skills, technician_profiles, skills, sites, customers CASCADE;
