# Debian packages: `cpack -G DEB` in a build directory writes prescient-agent_<v>_<arch>.deb
# and prescient-aggregator_<v>_<arch>.deb, one per install component (agent, aggregator).
# Dependencies come from dpkg-shlibdeps; the example configs are conffiles; the systemd
# units are installed disabled (deploy/deb/postinst only reloads systemd). The test is
# tests/e2e/test_packages.sh.

set(psc_deploy ${CMAKE_SOURCE_DIR}/deploy)

# Files of the packages that are not build products. Absolute destinations: Debian's
# places, whatever CMAKE_INSTALL_PREFIX is.
install(FILES ${psc_deploy}/systemd/prescient-agent.service
	DESTINATION /lib/systemd/system COMPONENT agent)
install(FILES ${psc_deploy}/config/agent.conf
	DESTINATION /etc/prescient PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
	COMPONENT agent)
install(FILES ${psc_deploy}/systemd/prescient-aggregator.service
	DESTINATION /lib/systemd/system COMPONENT aggregator)
install(FILES ${psc_deploy}/config/aggregator.conf
	DESTINATION /etc/prescient PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
	COMPONENT aggregator)

# Maintainer scripts and conffiles, per package (dpkg reads them from the control archive).
foreach(c agent aggregator)
	set(dir ${CMAKE_BINARY_DIR}/deb/${c})
	file(MAKE_DIRECTORY ${dir})
	file(WRITE ${dir}/conffiles "/etc/prescient/${c}.conf\n")
	configure_file(${psc_deploy}/deb/postinst ${dir}/postinst COPYONLY
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
		WORLD_READ WORLD_EXECUTE)
	configure_file(${psc_deploy}/deb/postrm ${dir}/postrm COPYONLY
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
		WORLD_READ WORLD_EXECUTE)
	string(TOUPPER ${c} C)
	set(CPACK_DEBIAN_${C}_PACKAGE_CONTROL_EXTRA
		"${dir}/conffiles;${dir}/postinst;${dir}/postrm")
endforeach()

set(CPACK_PACKAGE_NAME prescient)
set(CPACK_PACKAGE_VENDOR prescient)
set(CPACK_PACKAGE_CONTACT "prescient maintainers <prescient@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL agent aggregator)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME prescient-agent)
set(CPACK_DEBIAN_AGGREGATOR_PACKAGE_NAME prescient-aggregator)
# One string each: the first line is the package's synopsis, the rest its description.
set(CPACK_DEBIAN_AGENT_DESCRIPTION "prescient per-host agent (eBPF)
Watches what every workload (cgroup) on the host does with eBPF on syscall tracepoints
(HTTP, PostgreSQL, MySQL, Redis and DNS endpoints, resource use) and reports it every
window to the prescient aggregator; applies the aggregator's signed cgroup limit changes
only under the prefixes it is told to manage.")
set(CPACK_DEBIAN_AGGREGATOR_DESCRIPTION "prescient aggregator and offline modeling tool
prescient-aggregator receives the agents' sealed reports, stores them in SQLite, runs the
modeling engine (forecasts, shift detection, clusters, profiles) and exports Prometheus
metrics and a JSON API; prescientctl is the API's command-line client. prescient-replay
runs the same engine offline over recorded series.")
include(CPack)
