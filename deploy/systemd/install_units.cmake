# Run by `cmake --install` (deploy/CMakeLists.txt): writes the unit templates with the
# paths of this installation. CMAKE_INSTALL_PREFIX here is the prefix being installed to
# (--prefix included); DESTDIR, when set, only moves where the files land.
foreach(unit report-replica@.service report-gateway@.service report-worker@.service)
  set(REPORT_BINDIR "${CMAKE_INSTALL_PREFIX}/${REPORT_INSTALL_BINDIR}")
  set(REPORT_DOCDIR "${CMAKE_INSTALL_PREFIX}/${REPORT_INSTALL_DOCDIR}")
  set(REPORT_SYSCONFDIR "${REPORT_CONFIG_DIR}")
  set(dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/${unit}")
  message(STATUS "Installing: ${dest}")
  configure_file("${REPORT_UNIT_TEMPLATES}/${unit}.in" "${dest}" @ONLY)
endforeach()
