# nbgrader's settings for this repository: the exercise notebooks are the assignment "exercises".
#   nbgrader generate_assignment exercises --force     (what `make student` runs) -> student/exercises/
c = get_config()  # noqa: F821 (provided by nbgrader when it reads this file)
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = "student"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"  # the gradebook, beside this file (not in git)
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
